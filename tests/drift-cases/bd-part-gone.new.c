static unsigned long tally_ticks(struct block_device *bdev)
{
	return part_stat_read(bdev, io_ticks);
}
