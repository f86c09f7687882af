// Command embedded is a small key-value HTTP service that embeds a raftha
// member instead of running beside `raftha agent`. Every instance serves
// reads; only the node that owns the failover group accepts writes, and
// only while raftha runs its OwnerFunc: writes are accepted inside the
// callback's lifetime, and each one carries the callback's epoch (the
// fencing token), which the store checks so that a deposed owner's late
// write is refused. Other instances answer POST with 503 and the current
// owner.
//
//	embedded -config node1.yaml -listen 127.0.0.1:8081 [-store DIR] [-groups groups.yaml]
//
// The store is a directory shared by the nodes (on one machine, the same
// path; across machines, something like a shared disk): one file per key
// and a fence file holding the highest epoch that wrote. See README.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/raftha/raftha/config"
	"github.com/raftha/raftha/resources"
	"github.com/raftha/raftha/server"
)

// handlerName is the OwnerFunc's name; the group file's `handler:` uses it.
const handlerName = "kv-writer"

func main() {
	configPath := flag.String("config", "", "member configuration `FILE` (YAML, as for raftha agent)")
	listen := flag.String("listen", "127.0.0.1:8081", "HTTP `address` of the key-value service")
	storeDir := flag.String("store", "run/store", "shared store `DIR`")
	group := flag.String("group", "kv", "the failover `GROUP` whose owner accepts writes")
	groupsFile := flag.String("groups", "", "group `FILE` to apply once the cluster has a leader (optional)")
	flag.Parse()
	if *configPath == "" {
		fmt.Fprintln(os.Stderr, "embedded: -config is required")
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*configPath, *listen, *storeDir, *group, *groupsFile); err != nil {
		log.Fatalf("embedded: %v", err)
	}
}

func run(configPath, listen, storeDir, group, groupsFile string) error {
	cfg, err := config.LoadConfigFile(configPath)
	if err != nil {
		return err
	}
	for _, w := range cfg.Warnings() {
		log.Printf("warning: %s", w)
	}
	st, err := openStore(storeDir)
	if err != nil {
		return err
	}
	svc := &service{group: group, store: st}
	srv, err := server.New(*cfg, server.Options{
		Handlers: map[string]server.OwnerFunc{handlerName: svc.own},
	})
	if err != nil {
		return err
	}
	svc.srv = srv
	if err := srv.Start(); err != nil {
		return err
	}
	if groupsFile != "" {
		data, err := os.ReadFile(groupsFile)
		if err != nil {
			_ = srv.Shutdown(context.Background())
			return err
		}
		go applyWhenReady(srv, data)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /kv/{key}", svc.get)
	mux.HandleFunc("POST /kv/{key}", svc.put)
	mux.HandleFunc("GET /owner", svc.owner)
	hs := &http.Server{Addr: listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	httpErr := make(chan error, 1)
	go func() { httpErr <- hs.ListenAndServe() }()
	log.Printf("%s: key-value service on http://%s (writes only while owning group %s)", cfg.NodeID, listen, group)

	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	var runErr error
	select {
	case s := <-sig:
		log.Printf("%s received; handing the group over and stopping", s)
	case <-srv.Done():
		runErr = errors.New("the raftha member stopped")
	case err := <-httpErr:
		runErr = err
	}
	// Shutdown first: it hands the group to the other node (planned move),
	// which cancels our OwnerFunc and waits for it, so writes stop here
	// before they start there.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() { <-sig; cancel() }() // a second signal stops at once
	if err := srv.Shutdown(ctx); err != nil {
		log.Printf("raftha shutdown: %v", err)
	}
	_ = hs.Shutdown(ctx)
	return runErr
}

// applyWhenReady applies the group file once a leader answers.
func applyWhenReady(srv *server.Server, data []byte) {
	// WaitReady returns once this member has joined and a leader answers
	// (the cluster needs a quorum: start a second member), or with the
	// server's error if it stops first. No retry loop is needed after it.
	if err := srv.WaitReady(context.Background()); err != nil {
		log.Printf("group file not applied: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	names, err := srv.ApplyGroups(ctx, data, "embedded-example")
	if err != nil {
		log.Printf("group file not applied: %v", err)
		return
	}
	log.Printf("applied groups %v", names)
}

// service is the HTTP side. term is set only while the OwnerFunc runs.
type service struct {
	srv   *server.Server
	group string
	store *store

	mu   sync.RWMutex // writes hold it shared; stepping down holds it exclusively
	term *term
}

// term is one period of ownership: the token and the OwnerFunc's context.
type term struct {
	tok resources.Token
	ctx context.Context
}

// own is the OwnerFunc: raftha calls it on the owner after the leader
// confirmed the ownership, and cancels ctx when the group stops here or
// the lease is in doubt. Writes are accepted from its start until it
// returns; it returns only after the writes in flight have finished.
func (s *service) own(ctx context.Context, tok resources.Token) error {
	// Raise the store's fence to our epoch before the first write: from
	// now on a previous owner's late writes are refused, even if we have
	// nothing to write yet.
	if err := s.store.claim(tok); err != nil {
		return err // the monitor sees the return and restarts or fails over
	}
	s.mu.Lock()
	s.term = &term{tok: tok, ctx: ctx}
	s.mu.Unlock()
	log.Printf("owner of group %s at epoch %d: accepting writes", tok.Group, tok.Epoch)
	<-ctx.Done()
	s.mu.Lock() // waits for writes in flight
	s.term = nil
	s.mu.Unlock()
	log.Printf("no longer accepting writes for epoch %d: %v", tok.Epoch, context.Cause(ctx))
	return nil
}

var keyRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

func (s *service) put(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	if !keyRE.MatchString(key) || key[0] == '.' {
		httpError(w, http.StatusBadRequest, "key must be 1-128 letters, digits, '.', '_' or '-', not starting with '.'")
		return
	}
	value, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	t := s.term
	// ctx is cancelled the moment the lease is in doubt; LeaseValid reads
	// the lease clock now, which also covers a process that was stalled
	// (SIGSTOP, long GC pause) and has not run its cancellation yet. The
	// store's fence refuses whatever still slips through.
	if t == nil || t.ctx.Err() != nil || !s.srv.LeaseValid(t.tok.Group, t.tok.Epoch) {
		s.notOwner(w, r)
		return
	}
	rec, err := s.store.put(key, string(value), t.tok)
	switch {
	case errors.Is(err, errStaleEpoch):
		httpError(w, http.StatusConflict, err.Error())
		return
	case err != nil:
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("X-Raftha-Epoch", strconv.FormatUint(rec.Epoch, 10))
	writeJSON(w, http.StatusOK, rec)
}

func (s *service) get(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	if !keyRE.MatchString(key) || key[0] == '.' {
		httpError(w, http.StatusBadRequest, "bad key")
		return
	}
	rec, err := s.store.get(key)
	switch {
	case errors.Is(err, os.ErrNotExist):
		httpError(w, http.StatusNotFound, "no such key")
	case err != nil:
		httpError(w, http.StatusInternalServerError, err.Error())
	default:
		writeJSON(w, http.StatusOK, rec)
	}
}

// ownerInfo is what GET /owner and a refused POST return.
type ownerInfo struct {
	Error    string `json:"error,omitempty"`
	Group    string `json:"group"`
	Owner    string `json:"owner"`
	Epoch    uint64 `json:"epoch"`
	State    string `json:"state"`
	This     string `json:"this_node"`
	Stale    bool   `json:"stale,omitempty"`
	Writable bool   `json:"writable"`
}

func (s *service) ownerInfo(ctx context.Context) ownerInfo {
	info := ownerInfo{Group: s.group, This: s.srv.Config().NodeID}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st, err := s.srv.Status(ctx)
	if err != nil {
		info.Error = err.Error()
		return info
	}
	info.Stale = st.Stale
	for _, g := range st.Groups {
		if g.Name == s.group {
			info.Owner, info.Epoch, info.State = g.Owner, g.Epoch, string(g.State)
		}
	}
	return info
}

func (s *service) notOwner(w http.ResponseWriter, r *http.Request) {
	info := s.ownerInfo(r.Context())
	info.Error = fmt.Sprintf("%s does not own group %s; send writes to its owner", info.This, s.group)
	w.Header().Set("Retry-After", "1")
	writeJSON(w, http.StatusServiceUnavailable, info)
}

func (s *service) owner(w http.ResponseWriter, r *http.Request) {
	info := s.ownerInfo(r.Context())
	s.mu.RLock()
	info.Writable = s.term != nil && s.term.ctx.Err() == nil
	s.mu.RUnlock()
	writeJSON(w, http.StatusOK, info)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func httpError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// store is a directory of JSON records, one per key, with a fence file
// holding the highest epoch that ever wrote. Writes run under an
// exclusive flock, so nodes sharing the directory serialize, and a write
// whose epoch is below the fence is refused: that is what makes the epoch
// a fencing token, whatever a deposed owner still has in flight.
type store struct{ dir string }

// record is a stored value with the token of the owner that wrote it.
type record struct {
	Key   string    `json:"key"`
	Value string    `json:"value"`
	Epoch uint64    `json:"epoch"`
	Node  string    `json:"node"`
	At    time.Time `json:"at"`
}

var errStaleEpoch = errors.New("stale epoch")

func openStore(dir string) (*store, error) {
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o755); err != nil {
		return nil, err
	}
	return &store{dir: dir}, nil
}

func (s *store) lock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil // closing releases the lock
}

// claim raises the fence to tok.Epoch (refusing an epoch below it).
func (s *store) claim(tok resources.Token) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	return s.fence(tok)
}

func (s *store) put(key, value string, tok resources.Token) (record, error) {
	unlock, err := s.lock()
	if err != nil {
		return record{}, err
	}
	defer unlock()
	if err := s.fence(tok); err != nil {
		return record{}, err
	}
	rec := record{Key: key, Value: value, Epoch: tok.Epoch, Node: tok.Node, At: time.Now().UTC()}
	b, err := json.Marshal(rec)
	if err != nil {
		return record{}, err
	}
	return rec, writeFile(filepath.Join(s.dir, "keys", key), b)
}

// fence checks tok against the fence file and raises it; the caller holds
// the lock.
func (s *store) fence(tok resources.Token) error {
	fencePath := filepath.Join(s.dir, "FENCE")
	var fence uint64
	if b, err := os.ReadFile(fencePath); err == nil {
		fence, _ = strconv.ParseUint(string(b), 10, 64)
	}
	if tok.Epoch < fence {
		return fmt.Errorf("%w: %s at epoch %d refused; the owner at epoch %d has claimed the store since", errStaleEpoch, tok.Node, tok.Epoch, fence)
	}
	if tok.Epoch > fence {
		return writeFile(fencePath, []byte(strconv.FormatUint(tok.Epoch, 10)))
	}
	return nil
}

func (s *store) get(key string) (record, error) {
	var rec record
	b, err := os.ReadFile(filepath.Join(s.dir, "keys", key))
	if err != nil {
		return rec, err
	}
	return rec, json.Unmarshal(b, &rec)
}

// writeFile replaces path atomically (write, fsync, rename).
func writeFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
