static int tally_flush(struct tally_c *tc, struct dm_io_region *where)
{
	struct dm_io_request io_req = {
		.bi_rw = WRITE_FLUSH, /* drift */
		.mem.type = DM_IO_KMEM,
		.client = tc->io_client,
	};

	/* A bio's own bi_rw is another change (bi-rw-to-bi-opf). */
	if (tc->last_bio && (tc->last_bio->bi_rw & REQ_FUA))
		io_req.bi_rw |= REQ_FUA; /* drift */
	return dm_io(&io_req, 1, where, NULL);
}
