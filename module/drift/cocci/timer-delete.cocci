// timer-delete (6.15): del_timer() and del_timer_sync() became
// timer_delete() and timer_delete_sync().
@@
expression timer;
@@
(
- del_timer_sync(timer)
+ timer_delete_sync(timer)
|
- del_timer(timer)
+ timer_delete(timer)
)
