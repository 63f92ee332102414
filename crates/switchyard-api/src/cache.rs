//! The Cache service: reads of this node's shard caches (`CacheView::query`).
//!
//! In a shard pool, a guild whose shard another node runs is UNAVAILABLE here, its message
//! naming that node; the HTTP cache API forwards such reads (docs/grpc.md).

use switchyard_gateway::CacheView;
use tonic::{Request, Response, Status};

use crate::bots;
use crate::proto::cache_server::Cache;
use crate::proto::{
    CountsReply, CountsRequest, ReadManyReply, ReadManyRequest, ReadReply, ReadRequest, ReadResult,
    read_result,
};
use crate::query::{to_miss, to_query, to_reply, to_status};

/// The most reads one `ReadMany` carries.
const MAX_READS: usize = 100;

/// Every bot's caches on this node.
pub(crate) struct CacheService {
    names: Vec<String>,
    views: Vec<CacheView>,
}

impl CacheService {
    pub(crate) fn new(views: Vec<CacheView>) -> Self {
        CacheService {
            names: views.iter().map(|v| v.bot().to_owned()).collect(),
            views,
        }
    }

    fn view<T>(&self, request: &Request<T>) -> Result<&CacheView, Status> {
        let i = bots::pick(&self.names, request.metadata())?;
        Ok(&self.views[i])
    }
}

#[tonic::async_trait]
impl Cache for CacheService {
    async fn read(&self, request: Request<ReadRequest>) -> Result<Response<ReadReply>, Status> {
        let view = self.view(&request)?;
        let query = to_query(request.into_inner()).inspect_err(refused)?;
        match view.query(&query) {
            Ok(read) => Ok(Response::new(to_reply(read))),
            Err(miss) => Err(to_status(&miss)),
        }
    }

    async fn read_many(
        &self,
        request: Request<ReadManyRequest>,
    ) -> Result<Response<ReadManyReply>, Status> {
        let view = self.view(&request)?;
        let reads = request.into_inner().reads;
        if reads.len() > MAX_READS {
            let status = Status::invalid_argument(format!(
                "{} reads in one ReadMany; at most {MAX_READS}",
                reads.len()
            ));
            refused(&status);
            return Err(status);
        }
        let queries = reads
            .into_iter()
            .enumerate()
            .map(|(i, read)| {
                to_query(read).map_err(|s| {
                    let status = Status::invalid_argument(format!("read {i}: {}", s.message()));
                    refused(&status);
                    status
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let results = queries
            .iter()
            .map(|query| ReadResult {
                result: Some(match view.query(query) {
                    Ok(read) => read_result::Result::Found(to_reply(read)),
                    Err(miss) => read_result::Result::Miss(to_miss(&miss)),
                }),
            })
            .collect();
        Ok(Response::new(ReadManyReply { results }))
    }

    async fn counts(
        &self,
        request: Request<CountsRequest>,
    ) -> Result<Response<CountsReply>, Status> {
        let view = self.view(&request)?;
        match view.counts() {
            Ok(counts) => Ok(Response::new(CountsReply {
                json: counts.to_string(),
            })),
            Err(miss) => Err(to_status(&miss)),
        }
    }
}

/// Logs and counts a request refused as malformed.
fn refused(status: &Status) {
    metrics::counter!("switchyard_grpc_bad_requests_total", "service" => "cache").increment(1);
    tracing::warn!(
        message = status.message(),
        "a malformed gRPC cache read was refused"
    );
}
