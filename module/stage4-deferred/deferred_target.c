// SPDX-License-Identifier: GPL-2.0
/*
 * deferred - stage 4 of the dm-workbook: map returns DM_MAPIO_SUBMITTED.
 *
 * A passthrough, like stage 1, that holds every bio for a set time before
 * sending it on. map keeps the bio and returns DM_MAPIO_SUBMITTED; a work
 * item on the target's own workqueue sends each bio on once its time has
 * come. Holding bios makes suspend this target's business: the core waits
 * for every bio in flight before a device counts as suspended, and a bio
 * the target holds is in flight. So presuspend lets go of what is held: it
 * sends it on at once, or, during a noflush suspend, hands it back to the
 * core, which keeps it until the device resumes.
 *
 * Table line:
 *   <start> <length> deferred <device> <start-sector> <delay_ms>
 *                    [<#features> <feature>...]
 * Features:
 *   max_io_len <sectors>   the core cuts bios at every multiple of
 *                          <sectors> from the line's start: each piece is
 *                          held and sent on by itself
 * Status: held=<now> delayed=<bios held so far> drained=<sent on early by a
 *         suspend> pushed_back=<handed back at a noflush suspend>
 *
 * Holding bios for a delay is the idea of the kernel's dm-delay
 * (drivers/md/dm-delay.c), and handing held bios back during a noflush
 * suspend that of dm-raid1 (drivers/md/dm-raid1.c, hold_bio()); the code is
 * this workbook's own. The first two table arguments, their checks and their
 * ti->error strings follow dm-linear.c, as stage 1 does.
 */

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/bio.h>
#include <linux/atomic.h>
#include <linux/jiffies.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/workqueue.h>
#include <linux/device-mapper.h>

#include "dmw_compat.h"

#define DM_MSG_PREFIX "deferred"

/* A teaching target: a minute is more than any chapter waits. */
#define DEFERRED_MAX_DELAY_MS 60000

/* ANCHOR: broken */
/*
 * The broken variant, for the chapter on suspend: a module parameter rather
 * than a second module, so that one source and one build carry both paths
 * (the matrix builds the broken one on every line too), the book shows them
 * side by side, and tables name the same target either way:
 *   insmod deferred_target.ko drain_in_postsuspend=1
 * With it, presuspend only stops the clock and postsuspend lets go of the
 * held bios: too late, since the core waits for them in between.
 */
static bool drain_in_postsuspend;
module_param(drain_in_postsuspend, bool, 0444);
MODULE_PARM_DESC(drain_in_postsuspend,
		 "broken on purpose: let go of held bios in postsuspend, so a suspend with bios held never ends");
/* ANCHOR_END: broken */

/* ANCHOR: context */
/* What the constructor builds for one table line. */
struct deferred_c {
	struct dm_dev *dev;		/* where every bio goes */
	sector_t start;			/* where this line's first sector lands */
	unsigned int delay_ms;		/* as the table line gave it */
	unsigned long delay;		/* the same in jiffies; 0: no holding */
	unsigned int max_io_len;	/* the feature's value; 0: none */

	/*
	 * Its own workqueue, never the system one: the bios it sends may be
	 * what frees memory (writeback), and WQ_MEM_RECLAIM gives the queue
	 * a thread of its own that works when no new thread can be made.
	 */
	struct workqueue_struct *wq;
	struct delayed_work issue_work;	/* sends on the bios whose time came */

	/*
	 * map adds to the list, the work item and presuspend take from it,
	 * on any CPU: the spinlock guards the three fields below. Nobody
	 * sleeps or submits a bio while holding it.
	 */
	spinlock_t lock;
	struct bio_list held;		/* oldest first, so soonest due first */
	unsigned int nr_held;
	bool holding;			/* false from presuspend until resume */

	atomic64_t delayed;		/* bios map held */
	atomic64_t drained;		/* sent on early by a suspend */
	atomic64_t pushed_back;		/* handed back at a noflush suspend */
};

/* Per-bio data: when the bio may go. */
struct deferred_io {
	unsigned long due;		/* in jiffies */
};
/* ANCHOR_END: context */

static struct deferred_io *io_of(struct bio *bio)
{
	return dm_per_bio_data(bio, sizeof(struct deferred_io));
}

/* ANCHOR: features */
/* The optional features, read with the dm_arg_set helpers as in stage 3. */
static int parse_features(struct dm_arg_set *as, struct dm_target *ti,
			  struct deferred_c *dc)
{
	static const struct dm_arg count = {
		0, 2, "Invalid number of feature arguments"
	};
	unsigned int argc;
	int ret;

	if (!as->argc)
		return 0;

	ret = dm_read_arg_group(&count, as, &argc, &ti->error);
	if (ret)
		return ret;

	while (argc--) {
		const char *word = dm_shift_arg(as);

		if (strcasecmp(word, "max_io_len")) {
			ti->error = "Unrecognised feature argument";
			return -EINVAL;
		}
		if (!argc--) {
			ti->error = "Feature max_io_len needs a number of sectors";
			return -EINVAL;
		}
		if (kstrtouint(dm_shift_arg(as), 10, &dc->max_io_len) ||
		    !dc->max_io_len) {
			ti->error = "Invalid max_io_len";
			return -EINVAL;
		}
	}
	return 0;
}
/* ANCHOR_END: features */

static void issue_due(struct work_struct *work);

/* ANCHOR: ctr */
/*
 * argv[0] <device>, argv[1] <start-sector>, argv[2] <delay_ms>, then the
 * optional features.
 */
static int deferred_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct dm_arg_set as = { .argc = argc, .argv = argv };
	struct deferred_c *dc;
	unsigned long long start;
	unsigned int delay_ms;
	int ret;

	if (argc < 3) {
		ti->error = "Invalid argument count";
		return -EINVAL;
	}
	if (kstrtoull(argv[1], 10, &start)) {
		ti->error = "Invalid device sector";
		return -EINVAL;
	}
	if (kstrtouint(argv[2], 10, &delay_ms)) {
		ti->error = "Invalid delay";
		return -EINVAL;
	}
	if (delay_ms > DEFERRED_MAX_DELAY_MS) {
		ti->error = "Delay above 60000 ms";
		return -EINVAL;
	}

	dc = kzalloc(sizeof(*dc), GFP_KERNEL);
	if (!dc) {
		ti->error = "Cannot allocate context";
		return -ENOMEM;
	}
	dc->start = start;
	dc->delay_ms = delay_ms;
	dc->delay = msecs_to_jiffies(delay_ms);
	spin_lock_init(&dc->lock);
	bio_list_init(&dc->held);
	dc->holding = true;
	INIT_DELAYED_WORK(&dc->issue_work, issue_due);

	dm_consume_args(&as, 3);
	ret = parse_features(&as, ti, dc);
	if (ret)
		goto bad;
	if (as.argc) {
		ti->error = "Unexpected words after the features";
		ret = -EINVAL;
		goto bad;
	}

	ret = dm_get_device(ti, argv[0], dm_table_get_mode(ti->table), &dc->dev);
	if (ret) {
		ti->error = "Device lookup failed";
		goto bad;
	}

	/*
	 * WQ_UNBOUND: the work need not run on the CPU that queued it. Linux
	 * 7.2 also warns about a workqueue that says neither WQ_UNBOUND nor
	 * WQ_PERCPU, and 5.10 and 6.1 have no WQ_PERCPU.
	 */
	dc->wq = alloc_workqueue("dm-deferred", WQ_MEM_RECLAIM | WQ_UNBOUND, 0);
	if (!dc->wq) {
		ti->error = "Cannot allocate workqueue";
		ret = -ENOMEM;
		goto bad_put;
	}

	if (dc->max_io_len) {
		ret = dm_set_target_max_io_len(ti, dc->max_io_len);
		if (ret)
			goto bad_wq;	/* the core set ti->error */
	}

	ti->num_flush_bios = 1;
	ti->num_discard_bios = 1;
	ti->num_secure_erase_bios = 1;
	ti->num_write_zeroes_bios = 1;
	ti->per_io_data_size = sizeof(struct deferred_io);
#if DMW_HAVE_REMAPPED_IO
	/* dm_submit_bio_remap() starts the I/O accounting when a bio goes. */
	ti->accounts_remapped_io = true;
#endif
	ti->private = dc;
	return 0;

bad_wq:
	destroy_workqueue(dc->wq);
bad_put:
	dm_put_device(ti, dc->dev);
bad:
	kfree(dc);
	return ret;
}
/* ANCHOR_END: ctr */

static void deferred_dtr(struct dm_target *ti)
{
	struct deferred_c *dc = ti->private;

	/*
	 * Nothing is held: the core suspends a device (presuspend included)
	 * before it destroys its live table. A timer still armed would fire
	 * into freed memory: cancel it before the workqueue goes.
	 */
	cancel_delayed_work_sync(&dc->issue_work);
	destroy_workqueue(dc->wq);
	dm_put_device(ti, dc->dev);
	kfree(dc);
}

/* ANCHOR: map */
static int deferred_map(struct dm_target *ti, struct bio *bio)
{
	struct deferred_c *dc = ti->private;
	bool first;

	bio_set_dev(bio, dc->dev->bdev);
	/* An empty flush has no sectors: it only needs the right device. */
	if (bio_sectors(bio))
		bio->bi_iter.bi_sector = dc->start +
			dm_target_offset(ti, bio->bi_iter.bi_sector);

	if (!dc->delay)
		return DM_MAPIO_REMAPPED;

	/* No allocation: the core made room for io_of(bio) with the clone. */
	io_of(bio)->due = jiffies + dc->delay;

	spin_lock(&dc->lock);
	if (!dc->holding) {
		spin_unlock(&dc->lock);
		/*
		 * Suspending: presuspend has let go of what was held, and the
		 * core will soon stop sending bios. Until it does, a bio is
		 * sent on at once, or, during a noflush suspend, handed back:
		 * the core keeps it until resume.
		 */
		return dm_noflush_suspending(ti) ? DM_MAPIO_REQUEUE :
						   DM_MAPIO_REMAPPED;
	}
	first = bio_list_empty(&dc->held);
	bio_list_add(&dc->held, bio);
	dc->nr_held++;
	spin_unlock(&dc->lock);

	atomic64_inc(&dc->delayed);
	/* With one delay for all, only the first in line needs the timer. */
	if (first)
		queue_delayed_work(dc->wq, &dc->issue_work, dc->delay);
	return DM_MAPIO_SUBMITTED;
}
/* ANCHOR_END: map */

/* ANCHOR: issue */
/* Send a held bio on, to where map pointed it. */
static void send_on(struct bio *bio)
{
	dm_submit_bio_remap(bio, NULL);
}

/* The work item: send on every bio whose time has come, then wait again. */
static void issue_due(struct work_struct *work)
{
	struct deferred_c *dc = container_of(to_delayed_work(work),
					     struct deferred_c, issue_work);
	struct bio_list due = BIO_EMPTY_LIST;
	unsigned long next = 0;
	bool more = false;
	struct bio *bio;

	spin_lock(&dc->lock);
	while ((bio = bio_list_peek(&dc->held))) {
		if (time_before(jiffies, io_of(bio)->due)) {
			next = io_of(bio)->due;
			more = true;
			break;
		}
		bio_list_add(&due, bio_list_pop(&dc->held));
		dc->nr_held--;
	}
	spin_unlock(&dc->lock);

	/* Submitting may sleep: only now that the lock is dropped. */
	while ((bio = bio_list_pop(&due)))
		send_on(bio);

	if (more)
		queue_delayed_work(dc->wq, &dc->issue_work,
				   time_after(next, jiffies) ? next - jiffies : 0);
}
/* ANCHOR_END: issue */

/* ANCHOR: release */
/*
 * Let go of every held bio at once: send it on, or hand it back to the core
 * with BLK_STS_DM_REQUEUE, which during a noflush suspend the core keeps
 * and maps again after resume.
 */
static void release_held(struct deferred_c *dc, bool push_back)
{
	struct bio_list held;
	struct bio *bio;

	spin_lock(&dc->lock);
	held = dc->held;
	bio_list_init(&dc->held);
	dc->nr_held = 0;
	spin_unlock(&dc->lock);

	while ((bio = bio_list_pop(&held))) {
		if (push_back) {
			atomic64_inc(&dc->pushed_back);
			bio->bi_status = BLK_STS_DM_REQUEUE;
			bio_endio(bio);
		} else {
			atomic64_inc(&dc->drained);
			send_on(bio);
		}
	}
}
/* ANCHOR_END: release */

/* ANCHOR: suspend */
/*
 * The core calls presuspend first, then waits for every bio in flight, then
 * calls postsuspend. Held bios are in flight: they must go here.
 */
static void deferred_presuspend(struct dm_target *ti)
{
	struct deferred_c *dc = ti->private;

	spin_lock(&dc->lock);
	dc->holding = false;
	spin_unlock(&dc->lock);
	/* Waits for a running work item, and keeps it from coming back. */
	cancel_delayed_work_sync(&dc->issue_work);

	if (drain_in_postsuspend)
		return;		/* the broken variant: see deferred_postsuspend */
	release_held(dc, dm_noflush_suspending(ti));
}

static void deferred_postsuspend(struct dm_target *ti)
{
	struct deferred_c *dc = ti->private;

	/*
	 * Reached only once nothing is in flight: with bios held, never. The
	 * correct target has nothing left to do here.
	 */
	if (drain_in_postsuspend)
		release_held(dc, false);
}

/*
 * Holding starts again, and the clock for anything still held: on resume,
 * nothing is; after a suspend that failed (a signal, say), the core calls
 * presuspend_undo, and the broken variant still holds its bios.
 */
static void deferred_resume(struct dm_target *ti)
{
	struct deferred_c *dc = ti->private;
	bool held;

	spin_lock(&dc->lock);
	dc->holding = true;
	held = !bio_list_empty(&dc->held);
	spin_unlock(&dc->lock);
	if (held)
		queue_delayed_work(dc->wq, &dc->issue_work, 0);
}
/* ANCHOR_END: suspend */

/* ANCHOR: status */
static void deferred_status(struct dm_target *ti, status_type_t type,
			    unsigned int status_flags, char *result,
			    unsigned int maxlen)
{
	struct deferred_c *dc = ti->private;
	size_t sz = 0;	/* DMEMIT appends at result + sz */
	unsigned int held;

	switch (type) {
	case STATUSTYPE_INFO:
		spin_lock(&dc->lock);
		held = dc->nr_held;
		spin_unlock(&dc->lock);
		DMEMIT("held=%u delayed=%lld drained=%lld pushed_back=%lld", held,
		       (long long)atomic64_read(&dc->delayed),
		       (long long)atomic64_read(&dc->drained),
		       (long long)atomic64_read(&dc->pushed_back));
		break;

	case STATUSTYPE_TABLE:
		DMEMIT("%s %llu %u", dc->dev->name,
		       (unsigned long long)dc->start, dc->delay_ms);
		if (dc->max_io_len)
			DMEMIT(" 2 max_io_len %u", dc->max_io_len);
		break;

#if DMW_HAVE_STATUSTYPE_IMA
	case STATUSTYPE_IMA:
		DMEMIT("target_name=%s,target_version=%u.%u.%u",
		       ti->type->name, ti->type->version[0],
		       ti->type->version[1], ti->type->version[2]);
		DMEMIT(",device_name=%s,start=%llu,delay_ms=%u;", dc->dev->name,
		       (unsigned long long)dc->start, dc->delay_ms);
		break;
#endif
	}
}
/* ANCHOR_END: status */

static int deferred_iterate_devices(struct dm_target *ti,
				    iterate_devices_callout_fn fn, void *data)
{
	struct deferred_c *dc = ti->private;

	return fn(ti, dc->dev, dc->start, ti->len, data);
}

/* ANCHOR: target_type */
static struct target_type deferred_target = {
	.name		 = "deferred",
	.version	 = {1, 0, 0},
	.module		 = THIS_MODULE,
	.ctr		 = deferred_ctr,
	.dtr		 = deferred_dtr,
	.map		 = deferred_map,
	.presuspend	 = deferred_presuspend,
	.presuspend_undo = deferred_resume,
	.postsuspend	 = deferred_postsuspend,
	.resume		 = deferred_resume,
	.status		 = deferred_status,
	.iterate_devices = deferred_iterate_devices,
};
/* ANCHOR_END: target_type */

static int __init dm_deferred_init(void)
{
	return dm_register_target(&deferred_target);
}

static void __exit dm_deferred_exit(void)
{
	dm_unregister_target(&deferred_target);
}

module_init(dm_deferred_init);
module_exit(dm_deferred_exit);

MODULE_DESCRIPTION(DM_NAME " deferred: every bio held for a delay, and let go at suspend");
MODULE_LICENSE("GPL");
