package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseSchedule(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2024, time.June, 5, 12, 34, 0, 0, time.UTC) // a Wednesday
	tests := []struct {
		spec string
		loc  *time.Location
		next time.Time
		err  string
	}{
		{"0 3 * * *", time.UTC, time.Date(2024, 6, 6, 3, 0, 0, 0, time.UTC), ""},
		{"0 3 * * *", ny, time.Date(2024, 6, 6, 7, 0, 0, 0, time.UTC), ""},
		{"*/15 * * * *", time.UTC, time.Date(2024, 6, 5, 12, 45, 0, 0, time.UTC), ""},
		{"0 1 * * MON-FRI", time.UTC, time.Date(2024, 6, 6, 1, 0, 0, 0, time.UTC), ""},
		{"@hourly", time.UTC, time.Date(2024, 6, 5, 13, 0, 0, 0, time.UTC), ""},
		{"@daily", time.UTC, time.Date(2024, 6, 6, 0, 0, 0, 0, time.UTC), ""},
		{"@weekly", time.UTC, time.Date(2024, 6, 9, 0, 0, 0, 0, time.UTC), ""},
		{"@monthly", time.UTC, time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC), ""},
		{"@every 1h", time.UTC, from.Add(time.Hour), ""},
		{" @every 6h30m ", time.UTC, from.Add(6*time.Hour + 30*time.Minute), ""},
		{"", time.UTC, time.Time{}, "empty schedule"},
		{"@every", time.UTC, time.Time{}, `@every wants a duration of at least 1s, like "@every 6h"`},
		{"@every -1h", time.UTC, time.Time{}, `@every wants a duration of at least 1s, like "@every 6h"`},
		{"@every1h", time.UTC, time.Time{}, "unrecognized descriptor: @every1h"},
		{"CRON_TZ=UTC 0 3 * * *", time.UTC, time.Time{}, "give the time zone with the job's timezone key, not in the schedule"},
		{"TZ=", time.UTC, time.Time{}, "give the time zone with the job's timezone key, not in the schedule"},
		{"0 3 * *", time.UTC, time.Time{}, "expected exactly 5 fields, found 4: [0 3 * *]"},
		{"60 * * * *", time.UTC, time.Time{}, "end of range (60) above maximum (59): 60"},
		{"* * * * FUNDAY", time.UTC, time.Time{}, `failed to parse int from FUNDAY: strconv.Atoi: parsing "FUNDAY": invalid syntax`},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			s, err := ParseSchedule(tt.spec, tt.loc)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Errorf("ParseSchedule(%q) error = %v, want %q", tt.spec, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSchedule(%q) error = %v", tt.spec, err)
			}
			if got := s.Next(from); !got.Equal(tt.next) {
				t.Errorf("ParseSchedule(%q).Next(%v) = %v, want %v", tt.spec, from, got, tt.next)
			}
		})
	}
}

func TestTLSConfig(t *testing.T) {
	s := &Server{Host: "imap.example.com", Security: "tls", TLSSkipVerify: true}
	cfg, err := s.TLSConfig()
	if err != nil || cfg.ServerName != "imap.example.com" || !cfg.InsecureSkipVerify || cfg.RootCAs != nil {
		t.Errorf("TLSConfig() = %+v, %v", cfg, err)
	}

	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lab CA"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	s = &Server{Host: "127.0.0.1", CAFile: ca}
	if cfg, err = s.TLSConfig(); err != nil || cfg.RootCAs == nil || cfg.InsecureSkipVerify {
		t.Errorf("TLSConfig() with ca_file = %+v, %v", cfg, err)
	}

	notPEM := filepath.Join(dir, "x.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	if _, err := (&Server{CAFile: notPEM}).TLSConfig(); err == nil || !strings.Contains(err.Error(), "no PEM certificates") {
		t.Errorf("TLSConfig() with a non-PEM ca_file error = %v", err)
	}
	if _, err := (&Server{CAFile: filepath.Join(dir, "missing.pem")}).TLSConfig(); err == nil || !strings.HasPrefix(err.Error(), "ca_file: open ") {
		t.Errorf("TLSConfig() with a missing ca_file error = %v", err)
	}
}
