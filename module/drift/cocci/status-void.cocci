// status-void (3.9): the status callback returns nothing.
@target@
identifier tt, fn;
@@
 struct target_type tt = { .status = fn, };

@callback depends on target@
identifier target.fn;
@@
- int
+ void
 fn(...) { ... }

@depends on callback@
identifier target.fn;
expression E;
@@
 fn(...)
 {
 <...
- return E;
+ return;
 ...>
 }

@depends on callback@
identifier target.fn;
@@
 fn(...)
 {
 ...
- return;
 }
