// dm-io-ioprio (6.9, stable 6.1.83): dm_io() takes the I/O priority as a
// fifth argument.
@@
expression req, num, where, bits;
@@
- dm_io(req, num, where, bits)
+ dm_io(req, num, where, bits, IOPRIO_DEFAULT)
