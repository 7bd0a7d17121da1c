// Command hwprobe is the cluster test's workload and in-pod probe, one static binary in a one-file
// image: `serve` answers HTTP (the smoke test's Deployment), the others are run with kubectl exec.
//
//	hwprobe serve [ADDR]   HTTP on ADDR (default :8080): "hwprobe POD" for GET /, a log line per request
//	hwprobe version        prints the version (the smoke test's `nginx -v`)
//	hwprobe get URL        GET URL over plain HTTP; prints the body; exit 1 unless 200
//	hwprobe resolve NAME   prints NAME's addresses from the pod's resolver; exit 1 if none
//	hwprobe api [PATH]     GET PATH (default /api) at https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT
//	                       with the pod's service-account token, verifying the server with the pod's CA
//	hwprobe sleep          waits for a signal
package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

const version = "hwprobe/1.0"
const saDir = "/var/run/secrets/kubernetes.io/serviceaccount"

func main() {
	if len(os.Args) < 2 {
		fail("usage: hwprobe serve|version|get|resolve|api|sleep")
	}
	arg := func(i int, def string) string {
		if len(os.Args) > i {
			return os.Args[i]
		}
		return def
	}
	switch os.Args[1] {
	case "serve":
		serve(arg(2, ":8080"))
	case "version":
		fmt.Println(version)
	case "get":
		get(arg(2, ""))
	case "resolve":
		addrs, err := net.LookupHost(arg(2, ""))
		if err != nil || len(addrs) == 0 {
			fail(fmt.Sprintf("resolve %s: %v", arg(2, ""), err))
		}
		fmt.Println(strings.Join(addrs, " "))
	case "api":
		api(arg(2, "/api"))
	case "sleep":
		wait()
	default:
		fail("unknown command " + os.Args[1])
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "hwprobe:", msg)
	os.Exit(1)
}

func wait() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}

func serve(addr string) {
	host, _ := os.Hostname()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Printf("%s %s %s from %s\n", time.Now().UTC().Format(time.RFC3339), r.Method, r.URL.Path, r.RemoteAddr)
		w.Header().Set("Server", version)
		fmt.Fprintf(w, "hwprobe %s\n", host)
	})
	srv := &http.Server{Addr: addr, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		wait()
		srv.Close()
	}()
	fmt.Printf("hwprobe serving on %s\n", addr)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fail(err.Error())
	}
}

func get(url string) {
	c := &http.Client{Timeout: 5 * time.Second}
	r, err := c.Get(url)
	if err != nil {
		fail(err.Error())
	}
	defer r.Body.Close()
	body, _ := io.ReadAll(r.Body)
	fmt.Print(string(body))
	if r.StatusCode != 200 {
		fail(r.Status)
	}
}

func api(path string) {
	token, err := os.ReadFile(saDir + "/token")
	if err != nil {
		fail(err.Error())
	}
	ca, err := os.ReadFile(saDir + "/ca.crt")
	if err != nil {
		fail(err.Error())
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		fail("no certificate in " + saDir + "/ca.crt")
	}
	host := net.JoinHostPort(os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT"))
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest("GET", "https://"+host+path, nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	r, err := c.Do(req)
	if err != nil {
		fail(err.Error())
	}
	defer r.Body.Close()
	body, _ := io.ReadAll(r.Body)
	fmt.Printf("%s %s\n", r.Status, strings.TrimSpace(string(body)))
	if r.StatusCode != 200 {
		os.Exit(1)
	}
}
