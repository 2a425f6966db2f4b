static int tally_map(struct dm_target *ti, struct bio *bio,
		     union map_info *map_context)
{
	struct tally_io *io = mempool_alloc(tally_pool, GFP_NOIO);

	map_context->ptr = io;
	return DM_MAPIO_REMAPPED;
}
