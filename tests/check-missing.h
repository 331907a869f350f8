/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Forced into every test program by configure when the Check unit-test
 * framework was not found, so that make check stops with this line
 * rather than with a missing header.
 */
#error "make check needs Check 0.11 or later (Debian: apt-get install check), then ./configure again"
