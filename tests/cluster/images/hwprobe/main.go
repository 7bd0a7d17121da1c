// Command hwprobe is the cluster test's workload and in-pod probe, one static binary in a one-file
// image: `serve` answers HTTP (the smoke test's Deployment), the others are run with kubectl exec.
//
//	hwprobe serve [ADDR]   HTTP on ADDR (default :8080): "hwprobe POD" for GET /, a log line per request
//	hwprobe version        prints the version (the smoke test's `nginx -v`)
//	hwprobe get URL        GET URL over plain HTTP; prints the body; exit 1 unless 200
//	hwprobe resolve NAME   prints NAME's addresses from the pod's resolver; exit 1 if none
//	hwprobe api [PATH]     GET PATH (default /api) at https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT
//	                       with the pod's service-account token, verifying the server with the pod's CA
//	hwprobe watch FILE [MS] every MS milliseconds (default 250) the `api` call, one line per call appended
//	                       to FILE: "UNIXMS ok" or "UNIXMS fail ERROR" (a 429 with Retry-After is retried
//	                       as client-go does, up to 5 times, before it counts)
//	hwprobe sleep          waits for a signal
//
// `serve` keeps answering for 5 s after SIGTERM (as a preStop delay would), so the endpoint is gone from
// every kube-proxy before the server stops.
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
	case "watch":
		watch(arg(2, "/tmp/hwprobe.log"), arg(3, "250"))
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
		time.Sleep(5 * time.Second)
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
	status, body, err := call(path)
	if err != nil {
		fail(err.Error())
	}
	fmt.Printf("%s %s\n", status, body)
	if !strings.HasPrefix(status, "200") {
		os.Exit(1)
	}
}

// call GETs path at the kubernetes Service with the pod's token and CA (read anew each time: both
// rotate), retrying a 429 with Retry-After as client-go does.
func call(path string) (string, string, error) {
	for attempt := 0; ; attempt++ {
		token, err := os.ReadFile(saDir + "/token")
		if err != nil {
			return "", "", err
		}
		ca, err := os.ReadFile(saDir + "/ca.crt")
		if err != nil {
			return "", "", err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return "", "", fmt.Errorf("no certificate in %s/ca.crt", saDir)
		}
		host := net.JoinHostPort(os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT"))
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}
		c := &http.Client{Timeout: 5 * time.Second, Transport: tr}
		req, _ := http.NewRequest("GET", "https://"+host+path, nil)
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
		r, err := c.Do(req)
		if err != nil {
			return "", "", err
		}
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode == 429 && r.Header.Get("Retry-After") != "" && attempt < 5 {
			time.Sleep(time.Second)
			continue
		}
		return r.Status, strings.TrimSpace(string(body)), nil
	}
}

func watch(file, ms string) {
	interval, err := time.ParseDuration(ms + "ms")
	if err != nil {
		fail(err.Error())
	}
	f, err := os.OpenFile(file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		fail(err.Error())
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	tick := time.NewTicker(interval)
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		at := time.Now().UnixMilli()
		status, body, err := call("/api")
		switch {
		case err != nil:
			fmt.Fprintf(f, "%d fail %s\n", at, strings.ReplaceAll(err.Error(), "\n", " "))
		case !strings.HasPrefix(status, "200"):
			fmt.Fprintf(f, "%d fail %s %s\n", at, status, strings.ReplaceAll(body, "\n", " "))
		default:
			fmt.Fprintf(f, "%d ok\n", at)
		}
	}
}
