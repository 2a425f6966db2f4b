static int tally_flush(struct block_device *bdev)
{
	return blkdev_issue_flush(bdev, GFP_KERNEL); /* drift */
}
