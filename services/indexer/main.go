// Command indexer bulk-writes enriched events into OpenSearch: LOGS → OpenSearch.
package main

import (
	"github.com/jetlog/jetlog/libs/worker"
	"github.com/jetlog/jetlog/services/indexer/index"
)

func main() { worker.Main(index.Spec) }
