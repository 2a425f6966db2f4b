static unsigned long tally_ticks(struct block_device *bdev)
{
	struct hd_struct *part = bdev->bd_part; /* drift */

	return part_stat_read(part, io_ticks);
}
