package cyrus

import (
	"testing"
	"time"
)

// TestStop: Stop ends the master and its children (SIGTERM, as an
// administrator would): the server stops answering, and it is quick.
func TestStop(t *testing.T) {
	srv := Start(t, &Options{Layout: LayoutAlt, Users: []string{"erin"}})
	c := srv.Login(t, "erin")
	t0 := time.Now()
	srv.Stop()
	took := time.Since(t0)
	select {
	case <-srv.exited:
	default:
		t.Fatal("master still running after Stop")
	}
	select {
	case <-c.Closed():
	case <-time.After(10 * time.Second):
		t.Fatal("client connection still open 10 s after Stop")
	}
	if took > 5*time.Second {
		t.Errorf("Stop took %v", took)
	}
	t.Logf("Stop took %v", took)
}
