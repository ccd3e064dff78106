package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/mosaicdb/mosaic/operator"
	"github.com/mosaicdb/mosaic/operator/api/v1alpha1"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "mosaic-operator:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		metricsAddr, probeAddr, namespace string
		leaderElect                       bool
		resync                            time.Duration
		cfg                               = operator.DefaultConfig()
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "address of /metrics (0: off)")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	flag.StringVar(&namespace, "namespace", "", "watch only this namespace (default: all)")
	flag.BoolVar(&leaderElect, "leader-elect", true, "elect one active operator among replicas (a Lease in the operator's namespace)")
	flag.DurationVar(&resync, "resync", 10*time.Second, "how often a cluster is reconciled to follow its topology (primaries, serving shards)")
	flag.BoolVar(&cfg.UIDPorts, "tablet-uid-ports", false, "tablets listen on ports derived from their uid (mysqld 17000+uid, gRPC 18000+uid, HTTP 19000+uid): for nodes whose pods share one network")
	flag.IntVar(&cfg.PortOffset, "tablet-port-offset", 0, "added to every uid-derived tablet port")
	flag.IntVar(&cfg.GateMySQLPort, "gate-mysql-port", 0, "gate MySQL port in its pods (default 3306)")
	flag.IntVar(&cfg.GateHTTPPort, "gate-http-port", 0, "gate HTTP port in its pods (default 15000)")
	flag.Parse()
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctrl.SetLogger(logr.FromSlogHandler(log.Handler()))

	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme, v1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			return err
		}
	}
	managed := labels.SelectorFromSet(labels.Set{"app.kubernetes.io/managed-by": "mosaic-operator"})
	opts := ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress: probeAddr,
		LeaderElection:         leaderElect,
		LeaderElectionID:       "mosaic-operator.mosaicdb.io",
		// Only the operator's own pods and claims are cached, not every
		// pod of the cluster.
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&corev1.Pod{}:                   {Label: managed},
			&corev1.PersistentVolumeClaim{}: {Label: managed},
		}},
	}
	if namespace != "" {
		opts.Cache.DefaultNamespaces = map[string]cache.Config{namespace: {}}
	}
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), opts)
	if err != nil {
		return fmt.Errorf("start manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", func(*http.Request) error { return nil }); err != nil {
		return err
	}
	topos := operator.NewTopoCache(log)
	defer topos.Close()
	r := &operator.Reconciler{Client: mgr.GetClient(), Config: cfg, OpenTopo: topos.Open, Log: log, Resync: resync}
	if err := r.SetupWithManager(mgr); err != nil {
		return err
	}
	log.Info("operator starting")
	return mgr.Start(ctrl.SetupSignalHandler())
}
