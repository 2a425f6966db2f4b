// blkdev-issue-flush (5.12): blkdev_issue_flush() takes only the block
// device.
@@
expression bdev, gfp;
@@
- blkdev_issue_flush(bdev, gfp)
+ blkdev_issue_flush(bdev)
