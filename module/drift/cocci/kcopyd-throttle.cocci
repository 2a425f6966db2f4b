// kcopyd-throttle (3.9): dm_kcopyd_client_create() takes a throttle (NULL
// for none).
@@
@@
- dm_kcopyd_client_create()
+ dm_kcopyd_client_create(NULL)
