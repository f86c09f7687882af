package integration

// Processes, by pid, through /proc: how the fixtures kill a member's host
// (its agent and everything the agent started) without process groups.

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procParents maps every pid to its parent pid.
func procParents() map[int]int {
	out := map[int]int{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		ppid, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		out[pid] = ppid
	}
	return out
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return false
	}
	st := s[i+2]
	return st != 'Z' && st != 'X'
}

// killTree SIGKILLs root and all its descendants. It freezes each process
// (SIGSTOP) before looking for its children, so nothing forks away while
// the tree is collected, then kills them all and waits (bounded) until
// none runs. Process groups do not help: raftha starts run commands in
// their own group.
func killTree(root int) []int {
	if !alive(root) {
		return nil
	}
	_ = syscall.Kill(root, syscall.SIGSTOP)
	tree := map[int]bool{root: true}
	for round := 0; round < 50; round++ {
		added := false
		for pid, ppid := range procParents() {
			if tree[ppid] && !tree[pid] {
				tree[pid] = true
				_ = syscall.Kill(pid, syscall.SIGSTOP)
				added = true
			}
		}
		if !added {
			break
		}
	}
	var pids []int
	for pid := range tree {
		pids = append(pids, pid)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	sort.Ints(pids)
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(2 * time.Millisecond)
		}
	}
	return pids
}
