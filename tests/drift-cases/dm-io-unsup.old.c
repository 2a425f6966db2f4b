static void tally_done(unsigned long error, void *context) /* drift */
{
	complete(context);
}

static int tally_write(struct tally_c *tc, struct dm_io_region *where)
{
	struct dm_io_request io_req = {
		.bi_opf = REQ_OP_WRITE,
		.mem.type = DM_IO_KMEM,
		.notify.fn = tally_done,
		.client = tc->io_client,
	};

	return dm_io(&io_req, 1, where, NULL, IOPRIO_DEFAULT); /* drift */
}
