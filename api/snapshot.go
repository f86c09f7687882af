package api

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SnapshotFormat is the version of the snapshot file format this build
// writes and reads.
const SnapshotFormat = 1

// snapshotMagic starts every snapshot file, followed by " <format>\n".
const snapshotMagic = "RAFTHA-SNAPSHOT"

// MaxSnapshotSize bounds a snapshot's payload (the FSM state: members,
// groups and at most 1000 events are far smaller).
const MaxSnapshotSize = 64 << 20

// maxSnapshotHeader bounds the JSON header line.
const maxSnapshotHeader = 64 << 10

// ErrSnapshotInvalid is wrapped by every error about a snapshot file that
// is not one, is truncated, fails its checksum or has a format this build
// does not read. Nothing was restored.
var ErrSnapshotInvalid = errors.New("invalid snapshot file")

// SnapshotHeader is the header of a snapshot file (`raftha snapshot
// save`): one JSON line after the magic line, before the payload (the
// FSM's snapshot, exactly as Raft stores it).
type SnapshotHeader struct {
	// Format is the file format version (SnapshotFormat).
	Format int `json:"format"`
	// ClusterID names the cluster the snapshot came from, when it has
	// one (raftha has no cluster id yet: always empty).
	ClusterID string `json:"cluster_id,omitempty"`
	// Index is the Raft index of the last entry the snapshot holds.
	Index uint64 `json:"index"`
	// Term is the Raft term of that entry.
	Term uint64 `json:"term"`
	// Size is the payload's length in bytes.
	Size int64 `json:"size"`
	// SHA256 is the payload's SHA-256, hex.
	SHA256 string `json:"sha256"`
	// Created is when the leader took the snapshot (its clock).
	Created time.Time `json:"created"`
	// Member is the member (the leader) that took the snapshot.
	Member string `json:"member,omitempty"`
	// Groups and Members count what the payload holds, for a person.
	Groups int `json:"groups"`
	// Members counts the members the payload holds.
	Members int `json:"members"`
}

// EncodeSnapshot writes a snapshot file: the magic line, h as JSON (its
// Format, Size and SHA256 computed from payload) and payload.
func EncodeSnapshot(w io.Writer, h SnapshotHeader, payload []byte) (SnapshotHeader, error) {
	sum := sha256.Sum256(payload)
	h.Format, h.Size, h.SHA256 = SnapshotFormat, int64(len(payload)), hex.EncodeToString(sum[:])
	line, err := json.Marshal(h)
	if err != nil {
		return h, err
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%s %d\n", snapshotMagic, SnapshotFormat)
	buf.Write(line)
	buf.WriteByte('\n')
	if _, err := w.Write(buf.Bytes()); err != nil {
		return h, err
	}
	_, err = w.Write(payload)
	return h, err
}

// DecodeSnapshot reads a snapshot file and returns its header and its
// payload, verified: a file that is not a snapshot, was truncated or
// extended, or whose payload fails the checksum is an error wrapping
// ErrSnapshotInvalid.
func DecodeSnapshot(r io.Reader) (SnapshotHeader, []byte, error) {
	var h SnapshotHeader
	br := bufio.NewReader(io.LimitReader(r, maxSnapshotHeader+MaxSnapshotSize+64))
	magic, err := readLine(br, 64)
	if err != nil {
		return h, nil, fmt.Errorf("%w: no snapshot header: %v", ErrSnapshotInvalid, err)
	}
	word, ver, _ := strings.Cut(magic, " ")
	if word != snapshotMagic {
		return h, nil, fmt.Errorf("%w: not a raftha snapshot (it does not start with %q)", ErrSnapshotInvalid, snapshotMagic)
	}
	if v, err := strconv.Atoi(ver); err != nil || v != SnapshotFormat {
		return h, nil, fmt.Errorf("%w: snapshot format %q, this build reads format %d", ErrSnapshotInvalid, ver, SnapshotFormat)
	}
	line, err := readLine(br, maxSnapshotHeader)
	if err != nil {
		return h, nil, fmt.Errorf("%w: truncated header: %v", ErrSnapshotInvalid, err)
	}
	if err := json.Unmarshal([]byte(line), &h); err != nil {
		return h, nil, fmt.Errorf("%w: header: %v", ErrSnapshotInvalid, err)
	}
	if h.Format != SnapshotFormat || h.Size < 0 || h.Size > MaxSnapshotSize || h.Index == 0 {
		return h, nil, fmt.Errorf("%w: header says format %d, size %d, index %d", ErrSnapshotInvalid, h.Format, h.Size, h.Index)
	}
	payload := make([]byte, h.Size)
	if n, err := io.ReadFull(br, payload); err != nil {
		return h, nil, fmt.Errorf("%w: truncated: the header announces %d bytes of payload, the file holds %d", ErrSnapshotInvalid, h.Size, n)
	}
	if n, _ := io.Copy(io.Discard, io.LimitReader(br, 1<<20)); n > 0 {
		return h, nil, fmt.Errorf("%w: %d unexpected bytes after the %d bytes of payload", ErrSnapshotInvalid, n, h.Size)
	}
	sum := sha256.Sum256(payload)
	if got := hex.EncodeToString(sum[:]); got != h.SHA256 {
		return h, nil, fmt.Errorf("%w: checksum mismatch: the payload's sha256 is %s, the header says %s", ErrSnapshotInvalid, got, h.SHA256)
	}
	return h, payload, nil
}

func readLine(br *bufio.Reader, limit int) (string, error) {
	var b []byte
	for {
		frag, err := br.ReadSlice('\n')
		b = append(b, frag...)
		if len(b) > limit {
			return "", fmt.Errorf("line longer than %d bytes", limit)
		}
		switch {
		case err == nil:
			return strings.TrimSuffix(string(b), "\n"), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return "", io.ErrUnexpectedEOF
		default:
			return "", err
		}
	}
}

// RestoreResult is the answer of POST /v1/snapshot/restore.
type RestoreResult struct {
	// Snapshot is the restored file's header.
	Snapshot SnapshotHeader `json:"snapshot"`
	// Index is the Raft index the restore was written at: every epoch
	// granted after the restore is greater.
	Index uint64 `json:"index"`
	// Groups lists the restored groups.
	Groups []string `json:"groups"`
	// Replaced lists the restored groups that were active in the snapshot
	// (or owed a fence): restored offline and suspended, without owner,
	// their epoch kept; `raftha group start` places each again at a new
	// epoch.
	Replaced []string `json:"replaced,omitempty"`
}

// snapshotHTTP is c's HTTP client for snapshot calls: a follower answers
// them with a redirect (307) to the leader's API, which must see the
// same credentials (Go drops the Authorization header on a redirect to
// another host; the leader's certificate is checked against the same CA).
func (c *Client) snapshotHTTP() *http.Client {
	hc := *c.http
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) > 3 {
			return errors.New("too many redirects")
		}
		if req.URL.Scheme != "https" {
			return fmt.Errorf("refusing a redirect to %s: the raftha API is HTTPS only", req.URL)
		}
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		return nil
	}
	return &hc
}

// SnapshotSave is POST /v1/snapshot: the leader takes a consistent Raft
// snapshot. The file (header and payload) is verified and written to w;
// its header is returned.
func (c *Client) SnapshotSave(ctx context.Context, w io.Writer) (*SnapshotHeader, error) {
	data, err := c.snapshotCall(ctx, "/v1/snapshot", nil)
	if err != nil {
		return nil, err
	}
	h, _, err := DecodeSnapshot(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("the snapshot the API sent: %w", err)
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	return &h, nil
}

// SnapshotRestore is POST /v1/snapshot/restore: file, a snapshot file,
// is verified here (ErrSnapshotInvalid), then by the leader, and
// restored. epochFloor, when not 0, is an epoch every epoch granted after
// the restore must exceed (besides the snapshot's own index plus
// RestoreEpochGap).
func (c *Client) SnapshotRestore(ctx context.Context, file []byte, epochFloor uint64) (*RestoreResult, error) {
	if _, _, err := DecodeSnapshot(bytes.NewReader(file)); err != nil {
		return nil, err
	}
	path := "/v1/snapshot/restore"
	if epochFloor > 0 {
		path += "?epoch_floor=" + strconv.FormatUint(epochFloor, 10)
	}
	data, err := c.snapshotCall(ctx, path, file)
	if err != nil {
		return nil, err
	}
	var r RestoreResult
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("unexpected answer from %s%s: %w", c.base, path, err)
	}
	return &r, nil
}

// RestoreEpochGap is how far a restore or a lost-quorum recovery moves
// the Raft index (and so every later epoch) past the highest index it
// knows of: the cluster the snapshot came from, or the members that were
// lost, may have granted epochs beyond it.
const RestoreEpochGap = 1_000_000

// snapshotRetryWait is the pause before a snapshot call refused by a
// member that is not (or no longer) the leader is sent again.
const snapshotRetryWait = 200 * time.Millisecond

// snapshotCall posts body to path and returns the answer. A refusal that
// took no effect because leadership is moving (not_leader, no_leader) is
// sent again, through the member asked, until ctx ends.
func (c *Client) snapshotCall(ctx context.Context, path string, body []byte) ([]byte, error) {
	for {
		data, err := c.snapshotOnce(ctx, path, body)
		var e *Error
		if err == nil || !errors.As(err, &e) || (e.Code != CodeNotLeader && e.Code != CodeNoLeader) {
			return data, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(snapshotRetryWait):
		}
	}
}

func (c *Client) snapshotOnce(ctx context.Context, path string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.snapshotHTTP().Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the raftha API at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxSnapshotHeader+MaxSnapshotSize+64))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		e := &Error{}
		if json.Unmarshal(data, e) != nil || e.Message == "" {
			e = &Error{Message: fmt.Sprintf("POST %s: HTTP %d: %s", path, resp.StatusCode, strings.TrimSpace(string(data)))}
		}
		e.Status = resp.StatusCode
		return nil, e
	}
	return data, nil
}
