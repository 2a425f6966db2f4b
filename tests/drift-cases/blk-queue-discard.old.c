static bool tally_discards(struct block_device *bdev)
{
	return blk_queue_discard(bdev_get_queue(bdev)); /* drift */
}
