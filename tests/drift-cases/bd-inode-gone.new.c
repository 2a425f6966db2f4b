static sector_t tally_dev_size(struct dm_dev *dev)
{
	return bdev_nr_sectors(dev->bdev);
}
