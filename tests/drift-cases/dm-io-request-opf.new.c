static int tally_read(struct tally_c *tc, struct dm_io_region *where)
{
	struct dm_io_request io_req = {
		.bi_opf = REQ_OP_READ | REQ_SYNC, /* drift */
		.mem.type = DM_IO_KMEM,
		.client = tc->io_client,
	};

	return dm_io(&io_req, 1, where, NULL, IOPRIO_DEFAULT);
}
