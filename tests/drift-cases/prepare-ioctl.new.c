static int tally_prepare_ioctl(struct dm_target *ti, /* drift */
			       struct block_device **bdev)
{
	struct tally_c *tc = ti->private;

	*bdev = tc->dev->bdev;
	return 0;
}

static struct target_type tally_target = {
	.name          = "tally",
	.prepare_ioctl = tally_prepare_ioctl,
};
