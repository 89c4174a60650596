package offsite

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// stateFile, in the archive directory, records the last manifest this
// archive pushed or pulled, per store: a push refuses to go on when the
// store has a newer one (another archive pushes to the same place).
const stateFile = "offsite.json"

type state struct {
	// Writer names this archive (random, made at its first push or at
	// pull: a pulled archive is a new writer). Manifests carry it.
	Writer string           `json:"writer"`
	Stores map[string]int64 `json:"stores"` // store name -> manifest seq
}

func newWriterID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func readState(dir string) (*state, error) {
	s := &state{Stores: map[string]int64{}}
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, s); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, stateFile), err)
	}
	if s.Stores == nil {
		s.Stores = map[string]int64{}
	}
	return s, nil
}

func writeState(dir string, s *state) error {
	data, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return err
	}
	path := filepath.Join(dir, stateFile)
	f, err := os.CreateTemp(dir, "."+stateFile+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(append(data, '\n')); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	d.Sync()
	return nil
}

// pushLock keeps two pushes of one archive apart (a backup may run
// beside a push: the push only reads committed bytes).
type pushLock struct{ f *os.File }

func lockPush(ctx context.Context, dir string) (*pushLock, error) {
	path := filepath.Join(dir, "offsite.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("push lock: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return &pushLock{f}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
			// another push of this archive is running; wait for it
		}
	}
}

func (l *pushLock) release() { l.f.Close() }
