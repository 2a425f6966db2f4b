// SPDX-License-Identifier: GPL-2.0
/*
 * Probe for drift entry remapped-io: can a target ask the core to account
 * the clones it submits itself (ti->accounts_remapped_io), and submit them
 * with dm_submit_bio_remap()?
 */
#include <linux/device-mapper.h>

void dmw_probe(struct dm_target *ti, struct bio *clone);
void dmw_probe(struct dm_target *ti, struct bio *clone)
{
	ti->accounts_remapped_io = true;
	dm_submit_bio_remap(clone, NULL);
}
