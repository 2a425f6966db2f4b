// SPDX-License-Identifier: GPL-2.0
/*
 * Probe for drift entry dm-io-unsup: does dm_io() take sync_unsup_bits
 * before the I/O priority (six arguments)?
 */
#include <linux/dm-io.h>
#include <linux/ioprio.h>

int dmw_probe(struct dm_io_request *req, struct dm_io_region *where,
	      unsigned long *error_bits);
int dmw_probe(struct dm_io_request *req, struct dm_io_region *where,
	      unsigned long *error_bits)
{
	return dm_io(req, 1, where, error_bits, NULL, IOPRIO_DEFAULT);
}
