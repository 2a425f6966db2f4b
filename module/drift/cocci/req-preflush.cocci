// req-preflush (4.8): REQ_FLUSH was renamed REQ_PREFLUSH.
@@
@@
- REQ_FLUSH
+ REQ_PREFLUSH
