package main

import "golang.org/x/sys/unix"

// anonymousPipe says whether fd is a pipe made by pipe(2) (as a shell's
// <(command) is), not a FIFO in the file system, and which: its writers
// exist from its creation, so reading nothing from it with none left is
// its end.
func anonymousPipe(fd int) (pipeID, bool) {
	var fs unix.Statfs_t
	var st unix.Stat_t
	if unix.Fstatfs(fd, &fs) != nil || fs.Type != unix.PIPEFS_MAGIC || unix.Fstat(fd, &st) != nil {
		return pipeID{}, false
	}
	return pipeID{dev: uint64(st.Dev), ino: st.Ino}, true
}
