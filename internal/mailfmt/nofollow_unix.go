//go:build unix

package mailfmt

import "syscall"

// oNoFollow makes an open fail on a symbolic link (ELOOP).
const oNoFollow = syscall.O_NOFOLLOW
