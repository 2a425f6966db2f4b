// bd-inode-gone (6.10): struct block_device lost bd_inode; its size comes
// from bdev_nr_sectors().
@@
typedef loff_t;
expression bdev;
@@
(
- i_size_read(bdev->bd_inode) >> SECTOR_SHIFT
+ bdev_nr_sectors(bdev)
|
- i_size_read(bdev->bd_inode)
+ (loff_t)bdev_nr_sectors(bdev) << SECTOR_SHIFT
)
