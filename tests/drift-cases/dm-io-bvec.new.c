static int tally_copy(struct tally_c *tc, struct bio *bio, struct dm_io_region *where)
{
	struct dm_io_request io_req = {
		.mem.type = DM_IO_BIO, /* drift */
		.mem.ptr.bio = bio,
		.client = tc->io_client,
	};

	return dm_io(&io_req, 1, where, NULL, IOPRIO_DEFAULT);
}
