static bool tally_discards(struct block_device *bdev)
{
	return bdev_max_discard_sectors(bdev) != 0;
}
