// The public header compiles as C++ and a C++ program links the shared
// library and trains one step (run by `make check-header`).
#include <bsnn.h>

#include <cstdio>

int main()
{
    if (bsnn_version() != BSNN_VERSION_NUMBER) return 1;
    bsnn_model *m = bsnn_model_create(2);
    if (!m || bsnn_model_add(m, bsnn_layer_dense(1)) != BSNN_OK) return 2;
    if (bsnn_model_set_loss(m, BSNN_LOSS_MSE) != BSNN_OK) return 2;
    bsnn_optimizer *opt = bsnn_optimizer_create(BSNN_SGD);
    float xv[2] = {1.0f, 2.0f}, yv[1] = {1.0f};
    size_t xs[2] = {1, 2}, ys[2] = {1, 1};
    bsnn_tensor *x = bsnn_tensor_wrap(xv, 2, xs), *y = bsnn_tensor_wrap(yv, 2, ys);
    double loss = -1.0;
    bsnn_status st = bsnn_model_train_step(&loss, m, opt, x, y);
    bsnn_tensor_free(x);
    bsnn_tensor_free(y);
    bsnn_optimizer_free(opt);
    bsnn_model_free(m);
    if (st != BSNN_OK || !(loss >= 0.0)) {
        std::printf("C++ train step failed: %s\n", bsnn_last_error());
        return 3;
    }
    std::printf("check-header: C99, C11 and C++ compile; C++ trained one step (loss %.4f)\n", loss);
    return 0;
}
