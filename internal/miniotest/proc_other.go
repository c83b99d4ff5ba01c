//go:build !linux

package miniotest

import "syscall"

// sysProcAttr has nothing to add where the kernel offers no parent-death
// signal; a server outlives a test binary that dies without cleanup.
func sysProcAttr() *syscall.SysProcAttr {
	return nil
}
