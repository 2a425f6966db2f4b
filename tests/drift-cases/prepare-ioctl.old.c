static int tally_ioctl(struct dm_target *ti, unsigned int cmd, /* drift */
		       unsigned long arg)
{
	return -ENOTTY;
}

static struct target_type tally_target = {
	.name  = "tally",
	.ioctl = tally_ioctl,
};
