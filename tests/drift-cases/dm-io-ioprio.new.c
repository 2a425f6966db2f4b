static int tally_read_sync(struct tally_c *tc, struct dm_io_request *req,
			   struct dm_io_region *region)
{
	unsigned long error_bits;

	return dm_io(req, 1, region, &error_bits, /* drift */
		     IOPRIO_DEFAULT);
}
