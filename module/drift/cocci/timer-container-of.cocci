// timer-container-of (6.16): from_timer() was renamed timer_container_of().
@@
expression var, timer;
identifier member;
@@
- from_timer(var, timer, member)
+ timer_container_of(var, timer, member)
