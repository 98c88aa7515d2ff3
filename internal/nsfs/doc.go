// Package nsfs holds the named network namespace primitives that the
// netns driver (internal/netdrv) and the multi-machine lab (internal/lab)
// share: /run/netns as a shared mount, an flock around creating a name so
// no process ever sees a file before its bind mount, creating, opening,
// tearing down and listing named namespaces, and running code on an OS
// thread switched into one. On a machine, every privlink process and lab
// uses the same lock, so they never race on /run/netns.
package nsfs
