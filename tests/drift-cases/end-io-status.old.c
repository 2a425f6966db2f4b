static int tally_end_io(struct dm_target *ti, struct bio *bio, int error) /* drift */
{
	return error;
}

static struct target_type tally_target = {
	.name   = "tally",
	.end_io = tally_end_io,
};
