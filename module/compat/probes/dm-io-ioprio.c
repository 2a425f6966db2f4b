// SPDX-License-Identifier: GPL-2.0
/* ANCHOR: probe */
/*
 * Probe for drift entry dm-io-ioprio: does dm_io() take the I/O priority as
 * a fifth argument? A version check says "from 6.9"; Debian's 6.1 has it
 * too, from stable 6.1.83.
 */
#include <linux/dm-io.h>
#include <linux/ioprio.h>

int dmw_probe(struct dm_io_request *req, struct dm_io_region *where,
	      unsigned long *error_bits);
int dmw_probe(struct dm_io_request *req, struct dm_io_region *where,
	      unsigned long *error_bits)
{
	return dm_io(req, 1, where, error_bits, IOPRIO_DEFAULT);
}
/* ANCHOR_END: probe */
