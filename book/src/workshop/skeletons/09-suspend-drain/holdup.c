// SPDX-License-Identifier: GPL-2.0
/*
 * holdup - a passthrough that holds writes back for a while.
 *
 *   <start> <length> holdup <device> <start-sector> <delay-ms>
 * Reads go to the device at once. A write with data is held in the target
 * and sent on by a delayed work item, <delay-ms> after it came, the way
 * dm-delay defers its bios. A suspend must not wait out the delay: the
 * target sends what it holds as soon as the core asks it to suspend, and
 * holds writes again once the device is resumed.
 */

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/bio.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <linux/device-mapper.h>

#define DM_MSG_PREFIX "holdup"

struct holdup_c {
	struct dm_dev *dev;
	sector_t start;
	unsigned int delay_ms;

	spinlock_t lock;		/* guards held and holding */
	struct bio_list held;		/* writes waiting to be sent */
	bool holding;			/* false while the device suspends */
	struct workqueue_struct *wq;
	struct delayed_work release;	/* sends what is held */
};

/* The work item: send on every write held so far. */
static void holdup_release(struct work_struct *work)
{
	struct holdup_c *hc = container_of(to_delayed_work(work),
					   struct holdup_c, release);
	struct bio_list bios;
	struct bio *bio;

	spin_lock_irq(&hc->lock);
	bios = hc->held;
	bio_list_init(&hc->held);
	spin_unlock_irq(&hc->lock);

	while ((bio = bio_list_pop(&bios)))
		submit_bio_noacct(bio);
}

static int holdup_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct holdup_c *hc;
	unsigned long long start;
	unsigned int delay_ms;
	int ret;

	if (argc != 3) {
		ti->error = "Invalid argument count";
		return -EINVAL;
	}
	if (kstrtoull(argv[1], 10, &start)) {
		ti->error = "Invalid device sector";
		return -EINVAL;
	}
	if (kstrtouint(argv[2], 10, &delay_ms) || delay_ms > 10000) {
		ti->error = "Invalid delay";
		return -EINVAL;
	}
	hc = kzalloc(sizeof(*hc), GFP_KERNEL);
	if (!hc) {
		ti->error = "Cannot allocate context";
		return -ENOMEM;
	}
	hc->start = start;
	hc->delay_ms = delay_ms;
	spin_lock_init(&hc->lock);
	bio_list_init(&hc->held);
	hc->holding = true;
	INIT_DELAYED_WORK(&hc->release, holdup_release);
	hc->wq = alloc_workqueue("holdup", WQ_MEM_RECLAIM, 0);
	if (!hc->wq) {
		ti->error = "Cannot allocate workqueue";
		ret = -ENOMEM;
		goto bad;
	}
	ret = dm_get_device(ti, argv[0], dm_table_get_mode(ti->table), &hc->dev);
	if (ret) {
		ti->error = "Device lookup failed";
		destroy_workqueue(hc->wq);
		goto bad;
	}
	ti->num_flush_bios = 1;
	ti->private = hc;
	return 0;

bad:
	kfree(hc);
	return ret;
}

static void holdup_dtr(struct dm_target *ti)
{
	struct holdup_c *hc = ti->private;

	/* The core destroys a table only after a suspend: nothing is held. */
	cancel_delayed_work_sync(&hc->release);
	destroy_workqueue(hc->wq);
	dm_put_device(ti, hc->dev);
	kfree(hc);
}

/* ANCHOR: map */
static int holdup_map(struct dm_target *ti, struct bio *bio)
{
	struct holdup_c *hc = ti->private;
	unsigned long flags;

	bio_set_dev(bio, hc->dev->bdev);
	if (bio_sectors(bio))
		bio->bi_iter.bi_sector = hc->start +
			dm_target_offset(ti, bio->bi_iter.bi_sector);
	if (bio_op(bio) != REQ_OP_WRITE || !bio_has_data(bio))
		return DM_MAPIO_REMAPPED;

	spin_lock_irqsave(&hc->lock, flags);
	if (!hc->holding) {
		spin_unlock_irqrestore(&hc->lock, flags);
		return DM_MAPIO_REMAPPED;
	}
	bio_list_add(&hc->held, bio);
	spin_unlock_irqrestore(&hc->lock, flags);
	queue_delayed_work(hc->wq, &hc->release, msecs_to_jiffies(hc->delay_ms));
	/* The target owns the bio now: the work item sends it on. */
	return DM_MAPIO_SUBMITTED;
}
/* ANCHOR_END: map */

/* ANCHOR: suspend */
/* TODO 1: before a suspend, stop holding and send what is held now: the
 * core waits for every bio in flight, held ones too, before the device
 * counts as suspended.
 */

/* TODO 2: once resumed, hold writes again. */
/* ANCHOR_END: suspend */

static void holdup_status(struct dm_target *ti, status_type_t type,
			  unsigned int status_flags, char *result,
			  unsigned int maxlen)
{
	struct holdup_c *hc = ti->private;
	size_t sz = 0;

	if (type == STATUSTYPE_TABLE)
		DMEMIT("%s %llu %u", hc->dev->name,
		       (unsigned long long)hc->start, hc->delay_ms);
	else
		result[0] = '\0';
}

static int holdup_iterate_devices(struct dm_target *ti,
				  iterate_devices_callout_fn fn, void *data)
{
	struct holdup_c *hc = ti->private;

	return fn(ti, hc->dev, hc->start, ti->len, data);
}

/* ANCHOR: target_type */
static struct target_type holdup_target = {
	.name		 = "holdup",
	.version	 = {1, 0, 0},
	.module		 = THIS_MODULE,
	.ctr		 = holdup_ctr,
	.dtr		 = holdup_dtr,
	.map		 = holdup_map,
	/* TODO 3: give the core both callbacks. */
	.status		 = holdup_status,
	.iterate_devices = holdup_iterate_devices,
};
/* ANCHOR_END: target_type */

static int __init dm_holdup_init(void)
{
	return dm_register_target(&holdup_target);
}

static void __exit dm_holdup_exit(void)
{
	dm_unregister_target(&holdup_target);
}

module_init(dm_holdup_init);
module_exit(dm_holdup_exit);

MODULE_DESCRIPTION(DM_NAME " holdup: writes held back, sent at once on suspend");
MODULE_LICENSE("GPL");
