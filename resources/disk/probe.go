package disk

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/raftha/raftha/resources"
)

// Check implements resources.Resource.
func (r *Resource) Check(ctx context.Context, tok resources.Token) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	dev, _, mp, top, err := r.observe()
	if err != nil {
		return err
	}
	if top == nil {
		return fmt.Errorf("%s is not mounted", mp)
	}
	if !dev.matches(*top) {
		return fmt.Errorf("%s holds %s (%d:%d), not %s", mp, top.Source, top.Major, top.Minor, dev)
	}
	if r.flags&unix.MS_RDONLY == 0 && top.readOnly() {
		return fmt.Errorf("%s is mounted read-only (remounted after filesystem errors?)", mp)
	}
	if !r.p.Probe {
		return nil
	}
	return r.probe(ctx, mp, tok)
}

// probe writes, fsyncs, reads back (bypassing the page cache where the
// filesystem allows) and removes .raftha-probe-<node>. A probe stuck in
// the kernel is not stacked: later checks fail until it returns.
func (r *Resource) probe(ctx context.Context, mp string, tok resources.Token) error {
	r.probeMu.Lock()
	if r.probeBusy {
		r.probeMu.Unlock()
		return fmt.Errorf("probe of %s: an earlier probe is still blocked in I/O", mp)
	}
	r.probeBusy = true
	r.probeMu.Unlock()

	node := r.env.NodeID
	if node == "" {
		node = tok.Node
	}
	name := filepath.Join(mp, ".raftha-probe-"+sanitize(node))
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	payload := []byte(fmt.Sprintf("raftha probe group=%s node=%s epoch=%d time=%s nonce=%s\n",
		tok.Group, node, tok.Epoch, time.Now().UTC().Format(time.RFC3339Nano), hex.EncodeToString(rnd[:])))

	done := make(chan error, 1)
	go func() {
		err := probeFile(name, payload)
		r.probeMu.Lock()
		r.probeBusy = false
		r.probeMu.Unlock()
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("probe of %s: %w", mp, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("probe of %s did not finish in time: %w", mp, ctx.Err())
	}
}

func probeFile(name string, payload []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(payload); err != nil {
		f.Close()
		os.Remove(name)
		return fmt.Errorf("write: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(name)
		return fmt.Errorf("fsync: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(name)
		return err
	}
	f, err = os.Open(name)
	if err != nil {
		os.Remove(name)
		return err
	}
	// Drop the cached pages so the read goes to the device.
	_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	got, err := io.ReadAll(io.LimitReader(f, int64(len(payload))+1))
	f.Close()
	if err != nil {
		os.Remove(name)
		return fmt.Errorf("read back: %w", err)
	}
	if !bytes.Equal(got, payload) {
		os.Remove(name)
		return fmt.Errorf("read back %d bytes that differ from the %d written", len(got), len(payload))
	}
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	return nil
}

func sanitize(s string) string {
	if s == "" {
		return "node"
	}
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	return string(b)
}
