static int tally_flush(struct tally_c *tc, struct dm_io_region *where)
{
	struct dm_io_request io_req = {
		.bi_op = REQ_OP_WRITE, /* drift */
		.bi_op_flags = WRITE_FLUSH, /* drift */
		.mem.type = DM_IO_KMEM,
		.client = tc->io_client,
	};

	return dm_io(&io_req, 1, where, NULL);
}
