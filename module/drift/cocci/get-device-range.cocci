// get-device-range (2.6.34): dm_get_device() lost its start and len.
// ANCHOR: patch
@@
expression ti, path, start, len, mode, result;
@@
 dm_get_device(ti, path,
-              start, len,
               mode, result)
// ANCHOR_END: patch
