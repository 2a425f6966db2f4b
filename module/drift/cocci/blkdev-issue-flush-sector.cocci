// blkdev-issue-flush-sector (5.8): blkdev_issue_flush() lost its
// error_sector argument.
@@
expression bdev, gfp, sector;
@@
- blkdev_issue_flush(bdev, gfp, sector)
+ blkdev_issue_flush(bdev, gfp)
