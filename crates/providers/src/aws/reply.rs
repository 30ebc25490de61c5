//! Secrets Manager replies zeroized once the SDK is done with them: an interceptor that takes each
//! successful reply's body when the call completes and wipes its buffer.

use aws_sdk_secretsmanager::config::interceptors::FinalizerInterceptorContextMut;
use aws_sdk_secretsmanager::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_secretsmanager::error::BoxError;
use aws_smithy_types::body::SdkBody;
use http_body::Body as _;
use std::task::{Context, Poll, Waker};
use zeroize::Zeroize;

/// The SDK reads a reply's whole body into one buffer (a view of hyper's read buffer), deserializes
/// it, copying each value into the `String` or `Blob` we take over (`AwsProvider::value`), and would
/// free the buffer as it is with the call's context. This takes the body first and zeroizes its
/// buffer when nothing else holds it.
#[derive(Debug)]
pub(crate) struct ZeroizeReplies;

impl Intercept for ZeroizeReplies {
    fn name(&self) -> &'static str {
        "ZeroizeReplies"
    }

    fn modify_before_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // An error reply holds no value, and the SDK's error keeps it for its caller.
        if !matches!(context.output_or_error(), Some(Ok(_))) {
            return Ok(());
        }
        let Some(response) = context.response_mut() else {
            return Ok(());
        };
        // The header values are views of the same buffer: dropped first, so the body is its only holder.
        drop(std::mem::take(response.headers_mut()));
        let body = std::mem::replace(response.body_mut(), SdkBody::taken());
        let mut body = Box::pin(body);
        // A body read into memory hands over its buffer at once, without waiting; it also keeps
        // clones of it (to be read again on a retry), gone with it before the buffer is alone.
        let mut cx = Context::from_waker(Waker::noop());
        let mut read = Vec::new();
        while let Poll::Ready(Some(Ok(frame))) = body.as_mut().poll_frame(&mut cx) {
            read.extend(frame.into_data().ok());
        }
        drop(body);
        for data in read {
            if let Ok(mut buffer) = data.try_into_mut() {
                buffer.as_mut().zeroize();
            }
        }
        Ok(())
    }
}
