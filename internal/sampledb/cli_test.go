package sampledb

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// mysqlCLI runs the mysql/MariaDB command-line client against s.
func mysqlCLI(t *testing.T, s *Server, login, password, query string) (string, error) {
	t.Helper()
	bin, err := exec.LookPath("mysql")
	if err != nil {
		t.Skip("mysql client not on PATH (apt-get install mariadb-client); skipping CLI test")
	}
	host, port, _ := net.SplitHostPort(s.Addr().String())
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	// --skip-ssl: the server has no TLS (MariaDB 11.4+ clients otherwise insist).
	// -N -B: bare tab-separated output.
	cmd := exec.CommandContext(ctx, bin, "--no-defaults", "-h", host, "-P", port,
		"-u", login, "-p"+password, "--skip-ssl", "-N", "-B", "demo", "-e", query)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestMySQLCLI(t *testing.T) {
	s := startServer(t)
	for _, login := range []string{"acct1:admin:accountadmin", "acct1#admin#accountadmin", "acct1%3Aadmin%3Aaccountadmin"} {
		t.Run(login, func(t *testing.T) {
			out, err := mysqlCLI(t, s, login, testPassword,
				"CREATE TABLE IF NOT EXISTS cli (id INT PRIMARY KEY); REPLACE INTO cli VALUES (7); "+
					"SELECT id FROM cli; SELECT proxied, vpc_id = '' FROM privlink.connection_info")
			if err != nil {
				t.Fatalf("mysql: %v\n%s", err, out)
			}
			if want := "7\n0\t1"; out != want {
				t.Errorf("output = %q, want %q", out, want)
			}
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		out, err := mysqlCLI(t, s, testLogin, "wrong", "SELECT 1")
		if err == nil || !strings.Contains(out, "1045") {
			t.Fatalf("mysql with a wrong password: err=%v output=%q, want failure with 1045", err, out)
		}
	})
}
